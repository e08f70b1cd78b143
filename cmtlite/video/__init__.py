"""Video analysis stage: decode frames, measure motion, find rhythm."""
