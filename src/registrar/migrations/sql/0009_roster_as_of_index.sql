BEGIN;

-- Running upgrade 0008 -> 0009

DROP INDEX ix_enrollment_events_course_id_student_id_at;

CREATE INDEX ix_enrollment_events_course_id_student_id_at ON enrollment_events (course_id, student_id, at DESC, id DESC) INCLUDE (change);

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0008';

COMMIT;
