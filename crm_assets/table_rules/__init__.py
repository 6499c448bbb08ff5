"""Rules applied to the tables: personal data hashed or dropped, schema contracts, history,
deletion marks and the guard on rows a complete read did not return."""
