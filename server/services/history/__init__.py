"""The speedrun's imported history: what an import will write (plan), writing it in one
transaction (write), and the documents pages read back (documents)."""
