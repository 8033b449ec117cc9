"""One replicate of the corn-yield study in Python: read the training table from SQLite (fread)
and from PostgreSQL (dbread), write a SQLite copy to scratch space (fwrite), fit a random forest
and a Poisson GLM by iteratively reweighted least squares (training), score both on held-out rows
(evaluation), and print one JSON line of step times and scores.

Knobs, from agni.yaml's env and overridden by a JSON payload on stdin (see README.md):
trees, train_rows, irls_steps, seed. warm.py serves the same replicate from a warm worker.
"""

import json
import os
import sqlite3
import sys
import time
import uuid

import numpy as np
import pandas as pd
import psycopg2
from sklearn.ensemble import RandomForestRegressor

TARGET = "years_grown"
NOT_FEATURES = ("id", "site", "year", TARGET)


def config(raw):
    cfg = {
        "trees": int(os.environ.get("STUDY_TREES", "20")),
        "train_rows": int(os.environ.get("STUDY_TRAIN_ROWS", "4000")),
        "irls_steps": int(os.environ.get("STUDY_IRLS_STEPS", "50")),
        "seed": int(os.environ.get("STUDY_SEED", "14")),
    }
    raw = raw.strip()
    if raw:
        try:
            payload = json.loads(raw)
        except ValueError as e:
            raise ValueError(f"payload: not JSON ({e})") from None
        if not isinstance(payload, dict):
            raise ValueError("payload: expected a JSON object such as {\"trees\": 50}")
        for k, v in payload.items():
            if k not in cfg:
                raise ValueError(f"payload: unknown key {k!r}; known: {', '.join(cfg)}")
            cfg[k] = int(v)
    return cfg


def fread(path, table):
    # mode=ro: the volume is read-only, and SQLite must not try to create a journal there
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return pd.read_sql_query(f"SELECT * FROM {table} ORDER BY id", con)
    finally:
        con.close()


def dbread(table):
    con = psycopg2.connect(
        host=os.environ.get("STUDY_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("STUDY_PG_PORT", "5432")),
        dbname=os.environ.get("STUDY_PG_DB", "agni_study"),
        user=os.environ.get("STUDY_PG_USER", "postgres"),
        connect_timeout=10,
    )
    try:
        with con.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY id")
            cols = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=cols)
    finally:
        con.close()


def fwrite(df, scratch, table):
    # unique per replicate: on the bare host, parallel replicates share one /tmp
    path = os.path.join(scratch, f"corn-yield-copy-{os.getpid()}-{uuid.uuid4().hex[:8]}.sqlite")
    try:
        con = sqlite3.connect(path)
        try:
            df.to_sql(table, con, index=False)
            con.commit()
        finally:
            con.close()
        return os.path.getsize(path)
    finally:
        for p in (path, path + "-journal"):
            if os.path.exists(p):
                os.remove(p)


def poisson_deviance(y, mu):
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return 2 * float(np.sum(term - (y - mu)))


def poisson_irls(x, y, steps):
    """A Poisson GLM (log link) by iteratively reweighted least squares as R's glm.fit does it
    (start mu = y + 0.1, the same convergence test), with study.R's control: up to `steps` rounds,
    stopping only once the deviance no longer changes at all. Returns (coefficients, intercept
    first; rounds run)."""
    xd = np.column_stack([np.ones(len(x)), x])
    mu = y + 0.1
    eta = np.log(mu)
    beta = np.zeros(xd.shape[1])
    dev_old = poisson_deviance(y, mu)
    for step in range(1, steps + 1):
        z = eta + (y - mu) / mu
        sw = np.sqrt(mu)
        beta, *_ = np.linalg.lstsq(xd * sw[:, None], z * sw, rcond=None)
        eta = xd @ beta
        mu = np.exp(eta)
        dev = poisson_deviance(y, mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < np.finfo(float).tiny:
            return beta, step
        dev_old = dev
    return beta, steps


def r2(y, pred):
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - np.mean(y)) ** 2))


def replicate(raw):
    """One replicate for the payload text `raw`: its JSON line."""
    cfg = config(raw)
    table = os.environ.get("STUDY_TABLE", "corn_yield")
    t = {}

    t0 = time.perf_counter()
    df = dbread(table)
    t["dbread_time_sec"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    df_file = fread(os.environ.get("STUDY_SQLITE", "/data/corn-yield.sqlite"), table)
    t["fread_time_sec"] = time.perf_counter() - t0

    if df.shape != df_file.shape or int(df[TARGET].sum()) != int(df_file[TARGET].sum()):
        raise ValueError(
            f"the SQLite table {df_file.shape} and the PostgreSQL table {df.shape} differ: "
            "run make-data.mjs again so both hold the same rows"
        )

    t0 = time.perf_counter()
    fwrite(df_file, os.environ.get("STUDY_SCRATCH", "/tmp"), table)
    t["fwrite_time_sec"] = time.perf_counter() - t0

    # every fifth row is held out; the model sees the first train_rows of the rest
    features = [c for c in df.columns if c not in NOT_FEATURES]
    glm_cols = [i for i, c in enumerate(features) if not c.endswith("_annual")]
    test = df[df["id"] % 5 == 0]
    train = df[df["id"] % 5 != 0].head(cfg["train_rows"])
    x_train = train[features].to_numpy(dtype=float)
    y_train = train[TARGET].to_numpy(dtype=float)
    x_test = test[features].to_numpy(dtype=float)
    y_test = test[TARGET].to_numpy(dtype=float)

    t0 = time.perf_counter()
    # R's randomForest defaults for regression: mtry = p/3, nodesize 5
    rf = RandomForestRegressor(
        n_estimators=cfg["trees"],
        max_features=1 / 3,
        min_samples_leaf=5,
        random_state=cfg["seed"],
        n_jobs=1,
    ).fit(x_train, y_train)
    # The GLM leaves the annual columns out: they are the monthly ones' mean and sum, so with
    # them the design is singular up to rounding and the fit hangs on numerical noise.
    # Standardised so the log link's exp stays in range whatever the units.
    g_train, g_test = x_train[:, glm_cols], x_test[:, glm_cols]
    mean, sd = g_train.mean(axis=0), g_train.std(axis=0)
    sd[sd == 0] = 1
    beta, _ = poisson_irls((g_train - mean) / sd, y_train, cfg["irls_steps"])
    t["training_time_sec"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rf_pred = rf.predict(x_test)
    glm_pred = np.exp(beta[0] + ((g_test - mean) / sd) @ beta[1:])
    scores = {
        "r_squared": r2(y_test, glm_pred),
        "rf_r_squared": r2(y_test, rf_pred),
        "overall_accuracy": float(np.mean(np.clip(np.rint(rf_pred), 0, 10) == y_test)),
    }
    t["evaluation_time_sec"] = time.perf_counter() - t0

    return json.dumps({k: round(v, 6) for k, v in {**t, **scores}.items()})


def main():
    try:
        print(replicate(sys.stdin.read()), flush=True)
    except ValueError as e:
        print(f"study.py: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
