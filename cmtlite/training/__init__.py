"""Training the CP Transformer on the token corpus."""
