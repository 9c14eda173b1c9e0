"""View models of the pages: the leaderboards (board) and the detail pages of records, runs
and submissions (detail). They read through the server's services and render nothing."""
