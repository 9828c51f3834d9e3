"""mttd suggestions for DaVinci Resolve: `logic` decides, `host` is the only module calling Resolve."""
