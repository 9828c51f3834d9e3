"""The Blender sequencer add-on (`mtt_blender/`) and the build step that zips it (`build.py`)."""
