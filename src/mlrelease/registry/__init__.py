"""Models, versions and aliases; how model artifacts are saved and loaded."""
