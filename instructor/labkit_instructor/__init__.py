"""labkit_instructor: release, sync and grade the Model Monitoring Lab (never shipped to students)."""
