"""What people read: the reviewer's summary, the HTML reports, the SLO history."""
