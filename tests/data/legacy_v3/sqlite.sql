-- The DDL that the hand-written migrations (schema versions 1-3, before Alembic) ran on SQLite,
-- recorded from that code; tests build a legacy database from it. Never edit.
CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	applied_at FLOAT NOT NULL, 
	PRIMARY KEY (version)
);

CREATE TABLE deliveries (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	received_at FLOAT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	http_status INTEGER NOT NULL, 
	event_type VARCHAR(100), 
	event_id VARCHAR(200), 
	employee_id VARCHAR(100), 
	dedup_key VARCHAR(200), 
	headers TEXT NOT NULL, 
	body TEXT, 
	body_size INTEGER NOT NULL, 
	error TEXT, 
	job_id INTEGER, 
	duplicate_of INTEGER, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_deliveries_tenant_received ON deliveries (tenant_id, received_at);

CREATE INDEX ix_deliveries_undispatched ON deliveries (id) WHERE status = 'accepted' AND job_id IS NULL;

CREATE UNIQUE INDEX ux_deliveries_dedup ON deliveries (tenant_id, dedup_key) WHERE status = 'accepted';

CREATE INDEX ix_deliveries_job ON deliveries (job_id);

CREATE TABLE jobs (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	employee_id VARCHAR(100) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	event_types TEXT NOT NULL, 
	delivery_ids TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	run_after FLOAT NOT NULL, 
	attempts INTEGER NOT NULL, 
	lease_until FLOAT, 
	worker VARCHAR(100), 
	outcome VARCHAR(40), 
	reason TEXT, 
	last_error TEXT, 
	decision TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_jobs_employee ON jobs (tenant_id, employee_id, id);

CREATE INDEX ix_jobs_claim ON jobs (status, run_after);

CREATE UNIQUE INDEX ux_jobs_one_waiting ON jobs (tenant_id, employee_id) WHERE status IN ('queued', 'retry');

CREATE TABLE attempts (
	id INTEGER NOT NULL, 
	job_id INTEGER NOT NULL, 
	number INTEGER NOT NULL, 
	worker VARCHAR(100), 
	started_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	outcome VARCHAR(20), 
	error TEXT, 
	decision TEXT, 
	calls TEXT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_attempts_job_id ON attempts (job_id);

CREATE TABLE eh_connections (
	tenant_id VARCHAR(64) NOT NULL, 
	access_token TEXT, 
	refresh_token TEXT, 
	expires_at FLOAT, 
	status VARCHAR(20) NOT NULL, 
	reason TEXT, 
	org_uuid VARCHAR(64), 
	authorised_by TEXT, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (tenant_id)
);

CREATE TABLE oauth_states (
	state VARCHAR(100) NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	verifier TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (state)
);

CREATE TABLE rate_limits (
	"key" VARCHAR(300) NOT NULL, 
	tat FLOAT NOT NULL, 
	blocked_until FLOAT NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE th_snapshots (
	tenant_id VARCHAR(64) NOT NULL, 
	employee_id VARCHAR(100) NOT NULL, 
	user_name VARCHAR(200), 
	user TEXT NOT NULL, 
	job_id INTEGER, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (tenant_id, employee_id)
);

CREATE TABLE scheduled_actions (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	employee_id VARCHAR(100) NOT NULL, 
	action VARCHAR(20) NOT NULL, 
	due_at FLOAT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reason TEXT, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	job_id INTEGER, 
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ux_scheduled_one_pending ON scheduled_actions (tenant_id, employee_id, action) WHERE status = 'pending';

CREATE INDEX ix_scheduled_due ON scheduled_actions (status, due_at);

CREATE TABLE reconciliations (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	started_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	status VARCHAR(16) NOT NULL, 
	dry_run BOOLEAN NOT NULL, 
	"trigger" VARCHAR(20) NOT NULL, 
	summary TEXT, 
	report TEXT, 
	error TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_reconciliations_tenant ON reconciliations (tenant_id, id);

CREATE TABLE holds (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(30) NOT NULL, 
	employee_id VARCHAR(100), 
	status VARCHAR(16) NOT NULL, 
	reason TEXT NOT NULL, 
	items TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	resolved_at FLOAT, 
	resolution TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_holds_tenant ON holds (tenant_id, status);

CREATE TABLE web_sessions (
	id_hash VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	subject VARCHAR(200) NOT NULL, 
	tenant_id VARCHAR(64), 
	link_id VARCHAR(64), 
	created_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	ended_at FLOAT, 
	PRIMARY KEY (id_hash)
);

CREATE TABLE signin_links (
	id VARCHAR(64) NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	email VARCHAR(200) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	created_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	used_at FLOAT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_signin_links_tenant ON signin_links (tenant_id, created_at);

CREATE TABLE signin_failures (
	id INTEGER NOT NULL, 
	"key" VARCHAR(300) NOT NULL, 
	failed_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_signin_failures_key ON signin_failures ("key", failed_at);

CREATE TABLE tenant_modes (
	tenant_id VARCHAR(64) NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	changed_by VARCHAR(200) NOT NULL, 
	changed_at FLOAT NOT NULL, 
	shadow_since FLOAT, 
	PRIMARY KEY (tenant_id)
);

CREATE TABLE checklist_marks (
	tenant_id VARCHAR(64) NOT NULL, 
	item VARCHAR(40) NOT NULL, 
	marked_by VARCHAR(200) NOT NULL, 
	marked_at FLOAT NOT NULL, 
	PRIMARY KEY (tenant_id, item)
);

CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	cause VARCHAR(200) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	detail TEXT, 
	opened_at FLOAT NOT NULL, 
	last_seen_at FLOAT NOT NULL, 
	last_sent_at FLOAT, 
	unsent INTEGER NOT NULL, 
	total INTEGER NOT NULL, 
	resolved_at FLOAT, 
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ux_alerts_one_open ON alerts (tenant_id, cause) WHERE status = 'open';

CREATE TABLE alert_outbox (
	id INTEGER NOT NULL, 
	tenant_id VARCHAR(64) NOT NULL, 
	subject TEXT NOT NULL, 
	body TEXT NOT NULL, 
	recipients TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	next_try_at FLOAT NOT NULL, 
	attempts INTEGER NOT NULL, 
	sent_at FLOAT, 
	last_error TEXT, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_alert_outbox_due ON alert_outbox (sent_at, next_try_at);
