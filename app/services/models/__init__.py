"""Installed model files: inspecting, registering and acquiring them."""
