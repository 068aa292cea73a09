"""``bncheck grade``: a whole class's submissions, sandboxed, with partial credit.

``discover`` finds the students, ``rubric`` says what is graded, ``engine`` grades
(one sandboxed child per student), ``journal`` keeps every finished grade (resume,
shards), ``outputs`` and ``gradescope`` write what instructors and students read.
Nothing heavy is imported here: ``bncheck --help`` stays fast.
"""

from __future__ import annotations

__all__: list[str] = []
