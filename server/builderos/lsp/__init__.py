"""The daemon: a pygls language server, one module per feature, each exposing `setup(server)`."""
