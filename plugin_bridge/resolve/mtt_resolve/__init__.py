"""mttd suggestions for DaVinci Resolve: `logic` decides, `host` is the only module calling Resolve.

This file exists only in the checkout (plugin_bridge/resolve/build.py leaves it out: Resolve loads
the built mtt_resolve/ as a plain folder, with its copy of plugin_bridge/bridge_client.py). Here,
`mtt_resolve.bridge_client` is that one source, so the modules import and test as they are.
"""

import sys

from plugin_bridge import bridge_client

sys.modules[f"{__name__}.bridge_client"] = bridge_client
