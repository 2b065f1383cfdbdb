"""Test hub servers (Hugging Face look-alike, ModelScope look-alike) and fixtures to run them."""
