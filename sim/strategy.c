/*
 * strategy.c - the one table that names every strategy (see strategy.h).
 * Adding a strategy is one file in sim/strategies/ and its line here (its
 * declaration and its place in the table).
 */
#include "strategy.h"

#include <stdio.h>
#include <string.h>

extern const StrategyOps serial_strategy;
extern const StrategyOps data_parallel_strategy;
extern const StrategyOps parameter_server_strategy;
extern const StrategyOps pipeline_strategy;
extern const StrategyOps tensor_strategy;
extern const StrategyOps hybrid_strategy;
extern const StrategyOps local_sgd_strategy;
extern const StrategyOps gossip_strategy;
extern const StrategyOps federated_strategy;
extern const StrategyOps ensemble_strategy;
extern const StrategyOps codistill_strategy;

/* one line a strategy, so that adding one adds one line */
// clang-format off
static const StrategyOps *const strategies[] = {
    &serial_strategy,
    &data_parallel_strategy,
    &parameter_server_strategy,
    &pipeline_strategy,
    &tensor_strategy,
    &hybrid_strategy,
    &local_sgd_strategy,
    &gossip_strategy,
    &federated_strategy,
    &ensemble_strategy,
    &codistill_strategy,
};
// clang-format on

#define NSTRATEGIES (sizeof strategies / sizeof strategies[0])

int strategy_workers_batch(const Scenario *sc)
{
    return sc->batch * sc->workers;
}

int strategy_workers(const Scenario *sc)
{
    return sc->workers;
}

const StrategyOps *strategy_kind(size_t i)
{
    return i < NSTRATEGIES ? strategies[i] : NULL;
}

const StrategyOps *strategy_find(const char *name)
{
    for (size_t i = 0; i < NSTRATEGIES; i++)
        if (strcmp(strategies[i]->name, name) == 0)
            return strategies[i];
    return NULL;
}

void strategy_names(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NSTRATEGIES && used < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", strategies[i]->name);
}

void strategy_print_all(FILE *out)
{
    for (size_t i = 0; i < NSTRATEGIES; i++)
        fprintf(out, "  %-18s %s\n", strategies[i]->name, strategies[i]->summary);
}
