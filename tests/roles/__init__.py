"""The role matrix: every route of the API, the admin and operations, tried by every kind of user."""
