"""retok: tokenizer transfer for pretrained language models."""
