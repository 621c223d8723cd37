"""The bundled demo: an app worth inspecting and the traffic to show it."""
