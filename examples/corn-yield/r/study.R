# One replicate of the corn-yield study in R: read the training table from SQLite (fread) and
# from PostgreSQL (dbread), write a SQLite copy to scratch space (fwrite), fit a random forest
# and a Poisson GLM (training), score both on held-out rows (evaluation), and print one JSON
# line of step times and scores. Knobs: agni.yaml's env, overridden by a JSON payload of
# numbers on stdin (trees, train_rows, irls_steps, seed); see README.md.
suppressPackageStartupMessages({
  library(DBI)
  library(RSQLite)
  library(RPostgreSQL)
  library(randomForest)
})

env <- function(name, default) {
  v <- Sys.getenv(name, "")
  if (v == "") default else v
}

# The payload is a flat JSON object of numbers; base R has no JSON reader, and this needs none.
config <- function() {
  cfg <- list(
    trees = as.integer(env("STUDY_TREES", "20")),
    train_rows = as.integer(env("STUDY_TRAIN_ROWS", "4000")),
    irls_steps = as.integer(env("STUDY_IRLS_STEPS", "50")),
    seed = as.integer(env("STUDY_SEED", "14"))
  )
  con <- file("stdin")
  raw <- trimws(paste(readLines(con, warn = FALSE), collapse = ""))
  close(con)
  if (nzchar(raw)) {
    if (!grepl("^\\{.*\\}$", raw)) stop("payload: expected a JSON object such as {\"trees\": 50}")
    body <- trimws(sub("^\\{(.*)\\}$", "\\1", raw))
    if (nzchar(body)) {
      for (pair in strsplit(body, ",")[[1]]) {
        m <- regmatches(pair, regexec("^\\s*\"([a-z_]+)\"\\s*:\\s*(-?[0-9]+)\\s*$", pair))[[1]]
        if (length(m) != 3) stop("payload: expected \"key\": integer pairs, got ", pair)
        if (!(m[2] %in% names(cfg))) stop("payload: unknown key '", m[2], "'; known: ", paste(names(cfg), collapse = ", "))
        cfg[[m[2]]] <- as.integer(m[3])
      }
    }
  }
  cfg
}

elapsed <- function(t0) as.numeric(proc.time()[["elapsed"]] - t0)
now <- function() proc.time()[["elapsed"]]

r2 <- function(y, pred) 1 - sum((y - pred)^2) / sum((y - mean(y))^2)

main <- function() {
  cfg <- config()
  table <- env("STUDY_TABLE", "corn_yield")
  query <- paste0("SELECT * FROM ", table, " ORDER BY id")
  t <- list()

  t0 <- now()
  pg <- dbConnect(PostgreSQL(),
    host = env("STUDY_PG_HOST", "127.0.0.1"), port = as.integer(env("STUDY_PG_PORT", "5432")),
    dbname = env("STUDY_PG_DB", "agni_study"), user = env("STUDY_PG_USER", "postgres"))
  df <- dbGetQuery(pg, query)
  invisible(dbDisconnect(pg))
  t$dbread_time_sec <- elapsed(t0)

  t0 <- now()
  # read-only: the volume is, and SQLite must not try to create a journal there
  lite <- dbConnect(SQLite(), env("STUDY_SQLITE", "/data/corn-yield.sqlite"), flags = SQLITE_RO)
  df_file <- dbGetQuery(lite, query)
  dbDisconnect(lite)
  t$fread_time_sec <- elapsed(t0)

  if (!identical(dim(df), dim(df_file)) || sum(df$years_grown) != sum(df_file$years_grown))
    stop("the SQLite and PostgreSQL tables differ: run make-data.mjs again so both hold the same rows")

  t0 <- now()
  # unique per replicate: on the bare host, parallel replicates share one /tmp
  copy <- file.path(env("STUDY_SCRATCH", "/tmp"),
    sprintf("corn-yield-copy-%d-%s.sqlite", Sys.getpid(), paste(sample(c(letters, 0:9), 8, TRUE), collapse = "")))
  out <- dbConnect(SQLite(), copy)
  dbWriteTable(out, table, df_file)
  dbDisconnect(out)
  unlink(c(copy, paste0(copy, "-journal")))
  t$fwrite_time_sec <- elapsed(t0)

  # every fifth row is held out; the models see the first train_rows of the rest
  features <- setdiff(names(df), c("id", "site", "year", "years_grown"))
  test <- df[df$id %% 5 == 0, ]
  train <- head(df[df$id %% 5 != 0, ], cfg$train_rows)

  t0 <- now()
  set.seed(cfg$seed)
  rf <- randomForest(x = train[, features], y = train$years_grown, ntree = cfg$trees)
  # The GLM leaves the annual columns out: they are the monthly ones' mean and sum, so with them
  # the design is singular up to rounding and the fit hangs on numerical noise.
  # Up to irls_steps rounds of IRLS, stopping only once the deviance no longer changes at all
  # (study.py does the same), so the work does not hang on a tolerance; glm then warns that it
  # "did not converge", which is that choice, not a failure
  fit <- withCallingHandlers(
    glm(years_grown ~ ., family = poisson(), data = train[, c(grep("_annual$", features, value = TRUE, invert = TRUE), "years_grown")],
      control = glm.control(epsilon = .Machine$double.xmin, maxit = cfg$irls_steps)),
    warning = function(w) if (grepl("converge", conditionMessage(w))) invokeRestart("muffleWarning"))
  t$training_time_sec <- elapsed(t0)

  t0 <- now()
  rf_pred <- predict(rf, test[, features])
  glm_pred <- predict(fit, test[, features], type = "response")
  scores <- list(
    r_squared = r2(test$years_grown, glm_pred),
    rf_r_squared = r2(test$years_grown, rf_pred),
    overall_accuracy = mean(pmin(pmax(round(rf_pred), 0), 10) == test$years_grown)
  )
  t$evaluation_time_sec <- elapsed(t0)

  all <- c(t, scores)
  cat(sprintf("{%s}\n", paste(sprintf("\"%s\": %s", names(all), format(round(unlist(all), 6), scientific = FALSE, trim = TRUE)), collapse = ", ")))
}

main()
