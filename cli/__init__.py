"""The `tanpuhui` command."""
