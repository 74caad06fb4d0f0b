"""Evaluation (考核评价): the standard's indicators and scores, computed from what the history records."""
