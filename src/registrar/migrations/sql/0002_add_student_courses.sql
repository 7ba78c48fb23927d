BEGIN;

-- Running upgrade 0001 -> 0002

CREATE TABLE student_courses (
    student_id BIGINT NOT NULL,
    course_id BIGINT NOT NULL,
    enrolled_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_student_courses PRIMARY KEY (student_id, course_id),
    CONSTRAINT fk_student_courses_student_id_students FOREIGN KEY(student_id) REFERENCES students (id) ON DELETE CASCADE,
    CONSTRAINT fk_student_courses_course_id_courses FOREIGN KEY(course_id) REFERENCES courses (id) ON DELETE RESTRICT
);

CREATE INDEX ix_student_courses_course_id_student_id ON student_courses (course_id, student_id);

ALTER TABLE courses ADD COLUMN enrolled INTEGER DEFAULT '0' NOT NULL;

ALTER TABLE courses ADD CONSTRAINT ck_courses_seats_within_capacity CHECK (enrolled >= 0 AND (capacity IS NULL OR enrolled <= capacity));

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

COMMIT;
