"""The read side of the insights: the only insights modules that run SQL.

Each module loads the frozen input dataclasses of one pure metric module (`insights.dora`,
`insights.health`, `insights.sprint`, ...) for a `Scope`, and composes the report.
"""
