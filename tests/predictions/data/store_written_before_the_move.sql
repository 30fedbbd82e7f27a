BEGIN TRANSACTION;
CREATE TABLE feature_sets (
	id INTEGER NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	names TEXT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (digest)
);
INSERT INTO "feature_sets" VALUES(1,'3fca289f322218648c01e5e824b40068bdf4ceea6584fbffb10ad7ca6b6f24d7','["elo_gap"]');
INSERT INTO "feature_sets" VALUES(2,'85d81e4d0f5ea6aef2882c7fa94fe087d1057eff29a9e9e28a195b8bd594f3ae','["elo_gap", "rest_home"]');
CREATE TABLE forecast_outputs (
	id INTEGER NOT NULL, 
	digest VARCHAR(32) NOT NULL, 
	feature_set_id INTEGER, 
	features BLOB, 
	detail TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (digest), 
	FOREIGN KEY(feature_set_id) REFERENCES feature_sets (id)
);
INSERT INTO "forecast_outputs" VALUES(1,'fbe5c946434542949e6c834332ec739f',2,X'0000000000205E40000000000000F87F','{"expected_goals_home":2.1}');
INSERT INTO "forecast_outputs" VALUES(2,'14ad9ef774713748ea4a9f8e5b7903f1',1,X'0000000000004640',NULL);
CREATE TABLE predictions (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	competition VARCHAR(16) NOT NULL, 
	model_name VARCHAR(200) NOT NULL, 
	model_version VARCHAR(64) NOT NULL, 
	date DATE NOT NULL, 
	home_team VARCHAR(200) NOT NULL, 
	away_team VARCHAR(200) NOT NULL, 
	neutral BOOLEAN NOT NULL, 
	prob_home FLOAT NOT NULL, 
	prob_draw FLOAT, 
	prob_away FLOAT NOT NULL, 
	price_home FLOAT, 
	price_draw FLOAT, 
	price_away FLOAT, 
	output_id INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(output_id) REFERENCES forecast_outputs (id)
);
INSERT INTO "predictions" VALUES(1,'2024-05-18 09:00:00.000000','E0','dixon_coles','3','2024-05-19','Arsenal','Everton',0,0.7,0.2,0.1,1.3,5.5,9.0,1);
INSERT INTO "predictions" VALUES(2,'2024-01-06 12:00:00.000000','NFL','elo','7','2024-01-07','KC','LV',0,0.62,NULL,0.38,NULL,NULL,NULL,2);
CREATE TABLE results (
	competition VARCHAR(16) NOT NULL, 
	date DATE NOT NULL, 
	home_team VARCHAR(200) NOT NULL, 
	away_team VARCHAR(200) NOT NULL, 
	home_score INTEGER NOT NULL, 
	away_score INTEGER NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	PRIMARY KEY (competition, date, home_team, away_team)
);
INSERT INTO "results" VALUES('E0','2024-05-19','Arsenal','Everton',2,1,'2026-12-04 17:26:55.582214');
CREATE TABLE settlements (
	prediction_id INTEGER NOT NULL, 
	home_score INTEGER NOT NULL, 
	away_score INTEGER NOT NULL, 
	outcome VARCHAR(8) NOT NULL, 
	rps FLOAT, 
	log_loss FLOAT, 
	brier FLOAT, 
	settled_at DATETIME NOT NULL, 
	PRIMARY KEY (prediction_id), 
	FOREIGN KEY(prediction_id) REFERENCES predictions (id)
);
INSERT INTO "settlements" VALUES(1,2,1,'home',4.9999999999999968081e-02,3.56674943938732280646e-01,1.39999999999999985567e-01,'2026-12-04 17:26:55.584177');
CREATE INDEX ix_predictions_created_at ON predictions (created_at);
CREATE INDEX ix_predictions_match ON predictions (competition, date, home_team, away_team);
COMMIT;
