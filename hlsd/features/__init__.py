"""The app's features: each module's ``build`` makes one capability's services from
`Common` (and what earlier features made) and returns its `Feature`."""
