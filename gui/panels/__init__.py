"""The live panels: each builds its plot items once and updates them per snapshot."""
