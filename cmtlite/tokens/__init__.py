"""Compound-word (CP) token stage: MIDI <-> notes on a 16th grid <-> CP tokens with controls."""
