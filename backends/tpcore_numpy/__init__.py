"""The numpy backend of tpcore: executes plans on the CPU in float32 or float64."""
