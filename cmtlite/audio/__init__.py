"""Audio: FluidSynth rendering, mastering and the mux into the video."""
