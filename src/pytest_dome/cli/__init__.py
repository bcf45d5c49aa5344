"""The ``dome`` command: a thin shell over the run folder, report and attest packages."""
