"""The learning record's sync rules, pure: ids, the hybrid logical clock, record shapes and merges.

Facts (a lesson finished, a quiz attempt, a tutor answer) are append-only events; editable things
(notes, bookmarks) are registers, one value per field, written as changes that name the heads they
replaced. Every view (lesson state, note text, conflicts) is a deterministic function of the set of
records, so two devices holding the same set show the same thing, whatever order it arrived in.
"""
