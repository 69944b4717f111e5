"""The Streamlit front-end (ui/app.py), started by `matassist ui`."""
