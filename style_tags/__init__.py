"""The shipped modifier libraries (data only; see README.md beside this file)."""
