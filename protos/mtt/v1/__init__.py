"""Generated gRPC code for package mtt.v1 (see protos/generate.py) and the protocol number."""

# Bump on any incompatible change to the .proto files: clients restart an idle daemon that
# speaks another protocol.
PROTOCOL = 1
