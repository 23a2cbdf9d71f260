# Extra reference values from R's survey package for tests/stats (beyond ../shared/reference).
#
# Run from the repository root:   Rscript tests/stats/r/extra-cases.R
# Reads:   ../shared/reference/r-demo-data.csv   (42 respondents in units A, B, C)
# Writes:  tests/stats/fixtures/r-extra-data.csv     (the demo data plus unit D with a single
#                                                    respondent and unit E where every q1 answer
#                                                    is satisfied)
#          tests/stats/fixtures/r-extra-results.csv  (key,value at 17 significant digits)
#
# Design: stratified by unit, one respondent per PSU; "wr" = weights N_h/n_h without fpc,
# "fpc" = fpc=~N_h.  options(survey.lonely.psu = "adjust") throughout (unit D is lonely).
# Items q1..q3 on 1..5; s_k = 1 if q_k in 4:5 (NA if q_k NA); z_k = (q_k - 1)/4.
# Index tree as in the demo: e1 = mean(q1, q2), e2 = q3, overall = mean(e1, e2).

suppressMessages(library(survey))
options(survey.lonely.psu = "adjust")

out <- data.frame(key = character(0), value = numeric(0), stringsAsFactors = FALSE)
put <- function(key, value) {
  value <- as.numeric(value)
  for (i in seq_along(value)) {
    k <- if (length(value) > 1) paste0(key, "[", i, "]") else key
    out[nrow(out) + 1, ] <<- list(k, value[i])
  }
}

d <- read.csv("../shared/reference/r-demo-data.csv", stringsAsFactors = FALSE)
d <- d[, c("id", "stratum", "N_h", "sex", "agegrp", "q1", "q2", "q3")]
extra <- data.frame(
  id = c("D1", paste0("E", 1:6)),
  stratum = c("D", rep("E", 6)),
  N_h = c(50, rep(120, 6)),
  sex = c("F", "M", "F", "M", "F", "F", "M"),
  agegrp = c("55+", "18-34", "35-54", "55+", "35-54", "18-34", "35-54"),
  q1 = c(2, 5, 4, 5, NA, 4, 5),
  q2 = c(4, 3, NA, 5, 2, 4, 1),
  q3 = c(NA, 4, 5, 2, 3, NA, 5),
  stringsAsFactors = FALSE)
d <- rbind(d, extra)
d$n_h <- ave(rep(1, nrow(d)), d$stratum, FUN = length)
d$w <- d$N_h / d$n_h
for (k in 1:3) {
  q <- d[[paste0("q", k)]]
  d[[paste0("s", k)]] <- ifelse(is.na(q), NA, as.numeric(q >= 4))
  d[[paste0("num", k)]] <- ifelse(is.na(q), 0, as.numeric(q >= 4))
  d[[paste0("den", k)]] <- as.numeric(!is.na(q))
  d[[paste0("z", k)]] <- ifelse(is.na(q), NA, (q - 1) / 4)
  d[[paste0("zn", k)]] <- ifelse(is.na(q), 0, (q - 1) / 4)
  d[[paste0("x", k)]] <- ifelse(is.na(q), 0, q)
}
# domain-specific numerator/denominator of s1, for the F - M difference as one contrast
d$numF <- d$num1 * (d$sex == "F"); d$denF <- d$den1 * (d$sex == "F")
d$numM <- d$num1 * (d$sex == "M"); d$denM <- d$den1 * (d$sex == "M")
d$stratum <- factor(d$stratum); d$sex <- factor(d$sex); d$agegrp <- factor(d$agegrp)
write.csv(d, "tests/stats/fixtures/r-extra-data.csv", row.names = FALSE, na = "")

des_wr <- svydesign(ids = ~1, strata = ~stratum, weights = ~w, data = d)
des_fpc <- svydesign(ids = ~1, strata = ~stratum, fpc = ~N_h, data = d)
cat("survey", as.character(packageVersion("survey")), "|", R.version.string, "\n")

idx <- list(
  q1 = quote(num1 / den1), q2 = quote(num2 / den2), q3 = quote(num3 / den3),
  e1 = quote((num1 / den1 + num2 / den2) / 2), e2 = quote(num3 / den3),
  overall = quote(((num1 / den1 + num2 / den2) / 2 + num3 / den3) / 2))
totals <- ~num1 + den1 + num2 + den2 + num3 + den3
# PAPI-style: sub-dimensions on [0.5, 5] from normalised scores, dimension = their sum
papi <- list(
  sub1 = quote(0.5 + 4.5 * (zn1 / den1 + zn2 / den2) / 2),
  sub2 = quote(0.5 + 4.5 * zn3 / den3),
  dim = quote(1 + 4.5 * (zn1 / den1 + zn2 / den2) / 2 + 4.5 * zn3 / den3))
ptotals <- ~zn1 + zn2 + zn3 + den1 + den2 + den3

for (dn in c("wr", "fpc")) {
  des <- get(paste0("des_", dn))
  put(paste0(dn, ".degf"), degf(des))
  ## criterion shares, overall: estimate, SE, deff, CIs
  m <- svymean(~s1, des, na.rm = TRUE, deff = TRUE)
  put(paste0(dn, ".s1.mean"), coef(m)); put(paste0(dn, ".s1.se"), SE(m))
  put(paste0(dn, ".s1.deff"), deff(m))
  for (meth in c("logit", "beta", "mean")) {
    ci <- svyciprop(~s1, des, method = meth, na.rm = TRUE)
    put(paste0(dn, ".s1.", meth, ".ci"), confint(ci))
  }
  ## mean score with deff and Wald CI on t(df)
  m <- svymean(~q1, des, na.rm = TRUE, deff = TRUE)
  put(paste0(dn, ".q1.mean"), coef(m)); put(paste0(dn, ".q1.se"), SE(m))
  put(paste0(dn, ".q1.deff"), deff(m))
  put(paste0(dn, ".q1.ci"), confint(m, df = degf(des)))
  ## per unit (A..E; D is the lonely unit, E has every q1 answer satisfied)
  for (h in levels(d$stratum)) {
    sub <- subset(des, stratum == h)
    put(paste0(dn, ".unit", h, ".degf"), degf(sub))
    m <- svymean(~s1, sub, na.rm = TRUE, deff = TRUE)
    put(paste0(dn, ".unit", h, ".s1.mean"), coef(m)); put(paste0(dn, ".unit", h, ".s1.se"), SE(m))
    if (h != "D") put(paste0(dn, ".unit", h, ".s1.deff"), deff(m))
    if (!(h %in% c("D", "E"))) {
      put(paste0(dn, ".unit", h, ".s1.beta.ci"),
          confint(svyciprop(~s1, sub, method = "beta", na.rm = TRUE)))
      put(paste0(dn, ".unit", h, ".s1.logit.ci"),
          confint(svyciprop(~s1, sub, method = "logit", na.rm = TRUE)))
    }
    m <- svymean(~q2, sub, na.rm = TRUE)
    put(paste0(dn, ".unit", h, ".q2.mean"), coef(m)); put(paste0(dn, ".unit", h, ".q2.se"), SE(m))
    con <- svycontrast(svytotal(totals, sub), idx[c("e1", "e2", "overall")])
    put(paste0(dn, ".unit", h, ".index.est"), coef(con))
    put(paste0(dn, ".unit", h, ".index.se"), SE(con))
  }
  ## unit E: every q1 answer is 4 or 5; exact binomial interval on its 5 answers
  nE <- sum(!is.na(d$q1[d$stratum == "E"]))
  put(paste0(dn, ".unitE.s1.cp"), binom.test(nE, nE)$conf.int)
  ## element and overall indices (delta method on totals), overall and by sex
  con <- svycontrast(svytotal(totals, des), idx)
  put(paste0(dn, ".index.est"), coef(con)); put(paste0(dn, ".index.se"), SE(con))
  for (g in levels(d$sex)) {
    sub <- subset(des, sex == g)
    put(paste0(dn, ".sex", g, ".degf"), degf(sub))
    con <- svycontrast(svytotal(totals, sub), idx)
    put(paste0(dn, ".sex", g, ".index.est"), coef(con))
    put(paste0(dn, ".sex", g, ".index.se"), SE(con))
    m <- svymean(~s1, sub, na.rm = TRUE, deff = TRUE)
    put(paste0(dn, ".sex", g, ".s1.deff"), deff(m))
    put(paste0(dn, ".sex", g, ".s1.beta.ci"),
        confint(svyciprop(~s1, sub, method = "beta", na.rm = TRUE)))
  }
  ## difference F - M of s1 (domains sharing strata): one contrast of domain totals
  dif <- svycontrast(svytotal(~numF + denF + numM + denM, des),
                     quote(numF / denF - numM / denM))
  put(paste0(dn, ".diff.sex.s1.est"), coef(dif)); put(paste0(dn, ".diff.sex.s1.se"), SE(dif))
  dfmin <- min(degf(subset(des, sex == "F")), degf(subset(des, sex == "M")))
  put(paste0(dn, ".diff.sex.s1.p"), 2 * pt(-abs(coef(dif) / SE(dif)), dfmin))
  ## normalised scores and PAPI-style scaled mean / sum
  m <- svymean(~z1, des, na.rm = TRUE)
  put(paste0(dn, ".z1.mean"), coef(m)); put(paste0(dn, ".z1.se"), SE(m))
  con <- svycontrast(svytotal(ptotals, des), papi)
  put(paste0(dn, ".papi.est"), coef(con)); put(paste0(dn, ".papi.se"), SE(con))
}

## ---------------------------------------------- raking: design weights + fpc, sex and age
pop <- c(`(Intercept)` = 15970, sexM = 7670, `agegrp35-54` = 6370, `agegrp55+` = 5050)
for (variant in c("cal", "bnd", "trim")) {
  args <- list(des_fpc, ~sex + agegrp, population = pop, calfun = "raking",
               epsilon = 1e-13, maxit = 200)
  if (variant == "bnd") args$bounds <- c(0.5, 1.25)
  if (variant == "trim") args$trim <- c(0.8, 1.15)
  cal <- suppressMessages(do.call(calibrate, args))
  g <- weights(cal) / weights(des_fpc)
  put(paste0(variant, ".g.range"), range(g))
  put(paste0(variant, ".weights.first5"), weights(cal)[1:5])
  m <- svymean(~s1, cal, na.rm = TRUE, deff = TRUE)
  put(paste0(variant, ".s1.mean"), coef(m)); put(paste0(variant, ".s1.se"), SE(m))
  put(paste0(variant, ".s1.deff"), deff(m))
  m <- svymean(~q1, cal, na.rm = TRUE)
  put(paste0(variant, ".q1.mean"), coef(m)); put(paste0(variant, ".q1.se"), SE(m))
  con <- svycontrast(svytotal(totals, cal), idx)
  put(paste0(variant, ".index.est"), coef(con)); put(paste0(variant, ".index.se"), SE(con))
  for (h in c("A", "C")) {
    con <- svycontrast(svytotal(totals, subset(cal, stratum == h)), idx)
    put(paste0(variant, ".unit", h, ".index.est"), coef(con))
    put(paste0(variant, ".unit", h, ".index.se"), SE(con))
  }
  con <- svycontrast(svytotal(totals, subset(cal, sex == "F")), idx)
  put(paste0(variant, ".sexF.index.est"), coef(con))
  put(paste0(variant, ".sexF.index.se"), SE(con))
  dif <- svycontrast(svytotal(~numF + denF + numM + denM, cal),
                     quote(numF / denF - numM / denM))
  put(paste0(variant, ".diff.sex.s1.se"), SE(dif))
}

out$value <- sprintf("%.17g", out$value)
write.csv(out, "tests/stats/fixtures/r-extra-results.csv", row.names = FALSE)
cat("wrote", nrow(out), "values to tests/stats/fixtures/r-extra-results.csv\n")
