"""Music: the plan (key, sections, chords), the sampler and the form rules over it."""
