"""Built-in lessons (plain Python files run by numbanet.lesson)."""
