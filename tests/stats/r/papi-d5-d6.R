# PAPI D5/D6 reference values from R's survey package (questionnaires/papi-d5-d6.v1.yaml).
#
# Run from the repository root:   Rscript tests/stats/r/papi-d5-d6.R
# Writes:  tests/stats/fixtures/papi-data.csv     (generated answers, seed below; the columns are
#                                                  the questionnaire's item codes, so the file is
#                                                  also a `sipas analyze` input)
#          tests/stats/fixtures/papi-pop.csv      (unit,population: N_h for design weights)
#          tests/stats/fixtures/papi-results.csv  (key,value at 17 significant digits)
#          tests/stats/fixtures/papi-groups.txt   (the group codes, in the order of "groups" values)
#
# Everything here is written independently of the Python code, from shared/spec/papi.md:
# - per-respondent z in [0, 1]: yes/no share x or reversed 1 - x; 1..K scale (x - 1)/(K - 1);
#   four yes/no quality criteria -> (number of Có)/(number answered); walking minutes with fixed
#   anchors 60 -> 0 and 0 -> 1, clipped; NA where the item was not asked or not answered;
# - indicator = svymean of z over the respondents who answered it (a domain of the design);
# - sub-dimension = 0.25 + 2.25 * mean of its indicators; dimension = sum of 4 sub-dimensions;
#   total = D5 + D6: svycontrast (delta method) on svymean of the zero-filled z's and the
#   answered indicators, so zn_k / den_k is indicator k's ratio.
# Designs: stratified by unit, one respondent per PSU; "fpc": weights N_h/n_h with fpc = N_h;
# "wr": the same weights without fpc.  Domains: overall and each unit (subset()).

suppressMessages(library(survey))
options(survey.lonely.psu = "adjust")
set.seed(20261122)

out <- data.frame(key = character(0), value = numeric(0), stringsAsFactors = FALSE)
put <- function(key, value) {
  value <- as.numeric(value)
  for (i in seq_along(value)) {
    k <- if (length(value) > 1) paste0(key, "[", i, "]") else key
    out[nrow(out) + 1, ] <<- list(k, value[i])
  }
}

## ------------------------------------------------------------------ generated answers
sizes <- c(A = 80, B = 60, C = 50, D = 40)
popn <- c(A = 4200, B = 1900, C = 2600, D = 700)
shift <- c(A = 0.10, B = 0, C = -0.08, D = 0.05)          # units differ a little
unit <- rep(names(sizes), sizes)
n <- length(unit)
s <- shift[unit]
yn <- function(p) rbinom(n, 1, pmin(pmax(p, 0.02), 0.98))
pick <- function(k, probs) sample.int(k, n, replace = TRUE, prob = probs)
given <- function(x, cond) ifelse(!is.na(cond) & cond == 1, x, NA)
d <- data.frame(id = sprintf("R%03d", seq_len(n)), unit = unit, stringsAsFactors = FALSE)
d$sex <- sample(c("male", "female"), n, replace = TRUE)
d$age_group <- sample(c("age_18_24", "age_25_34", "age_35_49", "age_50_60", "over_60"), n,
                      replace = TRUE)
service <- function(prefix, p_use, filter = NULL, onedoor = TRUE, received = TRUE) {
  used <- yn(p_use + s)
  if (!is.null(filter)) used <- given(used, d[[filter]])
  col <- if (prefix == "d5_2") "d5_2_applied" else paste0(prefix, "_used")
  d[[col]] <<- used
  if (onedoor) d[[paste0(prefix, "_onedoor")]] <<- given(yn(0.7 + s), used)
  if (received) d[[paste0(prefix, "_received")]] <<- given(yn(0.8 + s), used)
  for (c in 1:4) d[[paste0(prefix, "_c", c)]] <<- given(yn(0.55 + 0.08 * c + s), used)
  d[[paste0(prefix, "_fee")]] <<- given(yn(0.15 - s), used)
  d[[paste0(prefix, "_sat")]] <<- given(pick(5, c(0.05, 0.1, 0.25, 0.4, 0.2)), used)
}
service("d5_1", 0.45, onedoor = FALSE, received = FALSE)
d$d5_2_built <- yn(0.4 + s)
service("d5_2", 0.75, filter = "d5_2_built")
service("d5_3", 0.35)
service("d5_4", 0.5, received = FALSE)
d$d6_1_insured <- yn(0.85 + s)
d$d6_1_useful <- given(pick(4, c(0.1, 0.2, 0.4, 0.3)), d$d6_1_insured)
d$d6_1_child <- yn(0.3)
d$d6_1_childcare <- given(pick(5, c(0.05, 0.1, 0.3, 0.35, 0.2)), d$d6_1_child)
d$d6_2_pupil <- yn(0.4)
d$d6_2_walk <- given(pmin(round(rexp(n, 1 / 22)), 300), d$d6_2_pupil)
d$d6_2_teaching <- given(pick(5, c(0.03, 0.1, 0.3, 0.37, 0.2)), d$d6_2_pupil)
d$d6_3_grid <- yn(0.93)
d$d6_3_cut <- given(yn(0.4 - s), d$d6_3_grid)
d$d6_3_road <- pick(4, c(0.1, 0.2, 0.2, 0.5))
d$d6_3_garbage <- pick(5, c(0.15, 0.1, 0.15, 0.3, 0.3))
d$d6_3_water <- yn(0.6 + s)
d$d6_4_safe <- pick(3, c(0.1, 0.5, 0.4))
d$d6_4_day <- pick(3, c(0.05, 0.35, 0.6))
d$d6_4_night <- pick(3, c(0.25, 0.45, 0.3))
d$d6_4_victim <- yn(0.1)
## item non-response: 4% of the answers that were asked are skipped (never a filter question,
## so a skipped answer never hides a block)
filters <- c("d5_1_used", "d5_2_built", "d5_2_applied", "d5_3_used", "d5_4_used",
             "d6_1_insured", "d6_1_child", "d6_2_pupil", "d6_3_grid")
items <- setdiff(names(d), c("id", "unit", "sex", "age_group"))
for (v in setdiff(items, filters)) d[[v]][runif(n) < 0.04] <- NA
d$N_h <- popn[d$unit]
write.csv(d[, c("id", "unit", "sex", "age_group", items)], "tests/stats/fixtures/papi-data.csv",
          row.names = FALSE, na = "")
write.csv(data.frame(unit = names(popn), population = popn),
          "tests/stats/fixtures/papi-pop.csv", row.names = FALSE, quote = FALSE)

## ------------------------------------------------------------------ z-scores
z <- list()
norm <- function(x, k) (x - 1) / (k - 1)
count4 <- function(prefix) {
  m <- as.matrix(d[, paste0(prefix, "_c", 1:4)])
  answered <- rowSums(!is.na(m))
  ifelse(answered > 0, rowSums(m, na.rm = TRUE) / pmax(answered, 1), NA)
}
z$d5_1_used <- d$d5_1_used
z$d5_1_quality <- count4("d5_1")
z$d5_1_sat <- norm(d$d5_1_sat, 5)
z$d5_2_applied <- d$d5_2_applied
z$d5_2_onedoor <- d$d5_2_onedoor
z$d5_2_received <- d$d5_2_received
z$d5_2_quality <- count4("d5_2")
z$d5_2_sat <- norm(d$d5_2_sat, 5)
z$d5_3_used <- d$d5_3_used
z$d5_3_onedoor <- d$d5_3_onedoor
z$d5_3_received <- d$d5_3_received
z$d5_3_quality <- count4("d5_3")
z$d5_3_sat <- norm(d$d5_3_sat, 5)
z$d5_4_used <- d$d5_4_used
z$d5_4_onedoor <- d$d5_4_onedoor
z$d5_4_quality <- count4("d5_4")
z$d5_4_sat <- norm(d$d5_4_sat, 5)
z$d6_1_insured <- d$d6_1_insured
z$d6_1_useful <- norm(d$d6_1_useful, 4)
z$d6_1_childcare <- norm(d$d6_1_childcare, 5)
z$d6_2_walk <- pmin(pmax((d$d6_2_walk - 60) / (0 - 60), 0), 1)
z$d6_2_teaching <- norm(d$d6_2_teaching, 5)
z$d6_3_grid <- d$d6_3_grid
z$d6_3_nocut <- 1 - d$d6_3_cut
z$d6_3_road <- norm(d$d6_3_road, 4)
z$d6_3_garbage <- norm(d$d6_3_garbage, 5)
z$d6_3_water <- d$d6_3_water
z$d6_4_safe <- norm(d$d6_4_safe, 3)
z$d6_4_day <- norm(d$d6_4_day, 3)
z$d6_4_night <- norm(d$d6_4_night, 3)
z$d6_4_novictim <- 1 - d$d6_4_victim
for (k in 1:4) z[[paste0("d4_fee_", k)]] <- 1 - d[[paste0("d5_", k, "_fee")]]
codes <- names(z)
for (k in codes) {
  d[[paste0("z_", k)]] <- z[[k]]
  d[[paste0("zn_", k)]] <- ifelse(is.na(z[[k]]), 0, z[[k]])
  d[[paste0("den_", k)]] <- as.numeric(!is.na(z[[k]]))
}
for (h in names(sizes)) for (k in codes)
  if (sum(d[[paste0("den_", k)]][d$unit == h]) < 2) stop("too few answers: ", k, " in ", h)

## ------------------------------------------------------------------ the index tree
subdims <- list(
  d5_1 = c("d5_1_used", "d5_1_quality", "d5_1_sat"),
  d5_2 = c("d5_2_applied", "d5_2_onedoor", "d5_2_received", "d5_2_quality", "d5_2_sat"),
  d5_3 = c("d5_3_used", "d5_3_onedoor", "d5_3_received", "d5_3_quality", "d5_3_sat"),
  d5_4 = c("d5_4_used", "d5_4_onedoor", "d5_4_quality", "d5_4_sat"),
  d6_1 = c("d6_1_insured", "d6_1_useful", "d6_1_childcare"),
  d6_2 = c("d6_2_walk", "d6_2_teaching"),
  d6_3 = c("d6_3_grid", "d6_3_nocut", "d6_3_road", "d6_3_garbage", "d6_3_water"),
  d6_4 = c("d6_4_safe", "d6_4_day", "d6_4_night", "d6_4_novictim"))
ratio <- function(k) paste0("zn_", k, " / den_", k)
mean_of <- function(ks) paste0("(", paste(sapply(ks, ratio), collapse = " + "), ") / ", length(ks))
sub_expr <- sapply(subdims, function(ks) paste0("0.25 + 2.25 * ", mean_of(ks)))
dim_expr <- c(d5 = paste(sub_expr[1:4], collapse = " + "), d6 = paste(sub_expr[5:8], collapse = " + "))
exprs <- c(sub_expr, dim_expr, papi = paste(dim_expr, collapse = " + "),
           d4_fees = mean_of(paste0("d4_fee_", 1:4)))
contrasts <- lapply(exprs, function(e) parse(text = e)[[1]])
moments <- as.formula(paste("~", paste(c(paste0("zn_", codes), paste0("den_", codes)),
                                       collapse = " + ")))

## ------------------------------------------------------------------ estimates
des_fpc <- svydesign(ids = ~1, strata = ~unit, fpc = ~N_h, data = d)
d$w <- d$N_h / ave(rep(1, n), d$unit, FUN = length)
des_wr <- svydesign(ids = ~1, strata = ~unit, weights = ~w, data = d)
cat("survey", as.character(packageVersion("survey")), "|", R.version.string, "\n")

for (dn in c("fpc", "wr")) {
  des <- get(paste0("des_", dn))
  for (dom in c("all", names(sizes))) {
    sub <- if (dom == "all") des else subset(des, unit == dom)
    key <- paste0(dn, ".", dom)
    put(paste0(key, ".degf"), degf(sub))
    ## indicators: svymean of z over the respondents who answered (a domain of the design)
    for (k in codes) {
      zk <- paste0("z_", k)
      keep <- !is.na(sub$variables[[zk]])
      m <- svymean(as.formula(paste("~", zk)), subset(sub, keep))
      put(paste0(key, ".", k, ".est"), coef(m)); put(paste0(key, ".", k, ".se"), SE(m))
      put(paste0(key, ".", k, ".n"), sum(!is.na(sub$variables[[zk]])))
    }
    ## sub-dimensions, dimensions, total, D4-linked mean: svycontrast on svymean
    con <- svycontrast(svymean(moments, sub), contrasts)
    put(paste0(key, ".groups.est"), coef(con)); put(paste0(key, ".groups.se"), SE(con))
    if (dom == "all") {
      ci <- confint(con, df = degf(sub))
      put(paste0(key, ".groups.lo"), ci[, 1]); put(paste0(key, ".groups.hi"), ci[, 2])
      put(paste0(key, ".groups.papi.lo"), coef(con) - 1.645 * SE(con))
      put(paste0(key, ".groups.papi.hi"), coef(con) + 1.645 * SE(con))
    }
  }
}
writeLines(names(exprs), "tests/stats/fixtures/papi-groups.txt")

out$value <- sprintf("%.17g", out$value)
write.csv(out, "tests/stats/fixtures/papi-results.csv", row.names = FALSE)
cat("wrote", nrow(out), "values to tests/stats/fixtures/papi-results.csv\n")
