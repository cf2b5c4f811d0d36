"""No models of its own: present so that post_migrate is sent for this app (apps/core/rls.py)."""
