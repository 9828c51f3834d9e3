"""mttd's timeline model: readers, features, the network, training and suggestions.

Nothing here imports grpc or the daemon; reading and featurizing never import torch.
"""

__version__ = "0.1.0"
