"""Built-in curation stages, one module each; registered under the entry-point group curate.plugins."""
