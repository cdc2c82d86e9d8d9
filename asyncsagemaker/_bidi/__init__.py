"""_bidi."""
