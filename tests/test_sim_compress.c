/*
 * test_sim_compress.c - PowerSGD and global top-k deliver what their
 * messages mean, on every member, in one simulation.
 *
 * PowerSGD is exact on a sum of low rank: when every worker's matrix lies
 * in the same r-dimensional column space, P^ spans it and P^ Q^T is the
 * sum itself; biases and matrices too small to factor travel whole.  With
 * a rank below the sum's, what every worker gets plus what the workers
 * keep as residuals is the sum (nothing is lost, only delayed).  Global
 * top-k is checked on a case worked by hand, and with every coordinate
 * kept (ratio 1) it is the sum.  Every member must end bit-identical, and
 * the message bytes are counted by hand.  Point to point (a parameter
 * server's pushes), PowerSGD cuts matrices at a slice's edges and a push
 * expands to what it compressed, less the residual.
 */
#include <math.h>
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "placement.h"
#include "platform.h"
#include "testutil.h"

#define PLATFORM DTSIM_SOURCE_DIR "/tests/platforms/ideal-64.xml"
#define MAXP 4
#define MAXN 1024

typedef struct Case {
    CompressConfig cfg;
    int p;
    size_t n;
    float in[MAXP][MAXN];  /* each member's gradient */
    float out[MAXP][MAXN]; /* after the all-reduce */
    float res[MAXP][MAXN]; /* its residual */
    double sent[MAXP];
    int finished, failed;
    CommWorld world;
    Comm comm[MAXP];
    Recorder rec;
    Device dev[MAXP];
} Case;

typedef struct Member {
    Case *c;
    int i;
} Member;

static void member_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Member *m = sg_actor_self_get_data();
    Case *c = m->c;
    Group g = {.comm = &c->comm[m->i], .size = c->p, .index = m->i};
    Compress comp;
    DtError err = {0};
    memcpy(c->out[m->i], c->in[m->i], c->n * sizeof(float));
    if (compress_init(&comp, &c->cfg, &c->dev[m->i], c->n, 0, &err) == 0 &&
        compress_allreduce(&comp, &g, collective_find(COLL_ALLREDUCE, "ring"), c->out[m->i], c->n,
                           0) == 0) {
        if (comp.residual)
            memcpy(c->res[m->i], comp.residual, c->n * sizeof(float));
        c->sent[m->i] = comp.sent_bytes;
        c->finished++;
    } else {
        c->failed++;
    }
    compress_free(&comp);
    free(m);
}

static void case_start(Case *c, int channel, sg_host_t *hosts)
{
    DtError err = {0};
    CU_ASSERT_FATAL(comm_world_init(&c->world, c->p, NULL, 4.0, &err) == 0);
    for (int i = 0; i < c->p; i++) {
        c->comm[i] = (Comm){.world = &c->world, .rank = i, .channel = channel};
        c->dev[i] = (Device){.rank = i, .rec = &c->rec, .speed = 1e12}; /* flop_scale 0: free */
        Member *m = malloc(sizeof *m);
        CU_ASSERT_FATAL(m != NULL);
        *m = (Member){c, i};
        sg_actor_t a = sg_actor_init("member", hosts[channel * MAXP + i]);
        sg_actor_set_data(a, m);
        sg_actor_start(a, member_main, 0, NULL);
    }
}

/* The largest |x - want| over n floats, relative to want's largest magnitude. */
static double rel_error(const float *x, const double *want, size_t n)
{
    double err = 0.0, scale = 1e-30;
    for (size_t k = 0; k < n; k++) {
        err = fmax(err, fabs(x[k] - want[k]));
        scale = fmax(scale, fabs(want[k]));
    }
    return err / scale;
}

static void sum_inputs(const Case *c, double *sum)
{
    for (size_t k = 0; k < c->n; k++) {
        sum[k] = 0.0;
        for (int i = 0; i < c->p; i++)
            sum[k] += c->in[i][k];
    }
}

static int members_identical(const Case *c)
{
    for (int i = 1; i < c->p; i++)
        if (memcmp(c->out[0], c->out[i], c->n * sizeof(float)) != 0)
            return 0;
    return 1;
}

/* rows x cols at m: sum over t < rank of u_t[row] v_t[col], u shared by
 * every member (seeded by t), v the member's own (by member and t). */
static void low_rank(float *m, int rows, int cols, int rank, int member)
{
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            double x = 0.0;
            for (int t = 0; t < rank; t++)
                x += sin(1.0 + r * (t + 1.3)) * cos(0.7 * k * (member + 1) + t);
            m[(size_t)r * cols + k] = (float)x;
        }
}

static const ModelMatrix exact_mats[] = {
    {0, 20, 30},   /* rank 1 in every member, rank 2 asked: its second column drops */
    {605, 16, 12}, /* rank 2 */
    {797, 2, 3},   /* (2 + 3) x 2 > 6: sent whole */
};

static void setup_exact(Case *c)
{
    *c = (Case){
        .cfg = {.kind = COMPRESS_POWERSGD, .rank = 2, .seed = 7, .mats = exact_mats, .nmats = 3},
        .p = 3,
        .n = 803};
    for (int i = 0; i < c->p; i++) {
        low_rank(c->in[i], 20, 30, 1, i);
        for (int k = 600; k < 605; k++) /* a bias */
            c->in[i][k] = 0.25f * (float)(k - 600 + i);
        low_rank(c->in[i] + 605, 16, 12, 2, i);
        for (int k = 797; k < 803; k++)
            c->in[i][k] = (float)(k * (i + 1) % 7) - 3.0f;
    }
}

static const ModelMatrix lossy_mats[] = {{0, 24, 18}};

static void setup_lossy(Case *c)
{
    *c = (Case){
        .cfg = {.kind = COMPRESS_POWERSGD, .rank = 1, .seed = 3, .mats = lossy_mats, .nmats = 1},
        .p = 2,
        .n = 24 * 18};
    for (int i = 0; i < c->p; i++)
        low_rank(c->in[i], 24, 18, 3, i);
}

/* Member w holds 10 (w + 1) at 2w and w + 1 at 2w + 1, k = 2: the tree
 * keeps {0: 10, 2: 20} at member 0 and {4: 30, 6: 40} at member 2, then
 * {4: 30, 6: 40} at member 0; each member keeps in its residual what it
 * sent at the coordinates not among those two (Shi et al.'s rule). */
static void setup_gtopk_hand(Case *c)
{
    *c = (Case){.cfg = {.kind = COMPRESS_GTOPK, .ratio = 0.25}, .p = 4, .n = 8};
    for (int w = 0; w < 4; w++) {
        c->in[w][2 * w] = 10.0f * (float)(w + 1);
        c->in[w][2 * w + 1] = (float)(w + 1);
    }
}

/* k = 1: member 0 drops member 1's pair at 1, which comes back from
 * member 2's subtree and wins: member 1 cannot tell that its 1 was
 * dropped, and by Shi et al.'s rule it is lost, the one thing the rule
 * loses. */
static void setup_gtopk_reenter(Case *c)
{
    *c = (Case){.cfg = {.kind = COMPRESS_GTOPK, .ratio = 0.25}, .p = 4, .n = 4};
    c->in[0][0] = 10.0f;
    c->in[1][1] = 1.0f;
    c->in[2][1] = 100.0f;
    c->in[3][2] = 5.0f;
}

static void setup_gtopk_all(Case *c)
{
    *c =
        (Case){.cfg = {.kind = COMPRESS_GTOPK, .ratio = 1.0, .error_feedback = 1}, .p = 3, .n = 50};
    for (int i = 0; i < c->p; i++)
        for (size_t k = 0; k < c->n; k++)
            c->in[i][k] = (float)sin(3.0 * (double)k + i) * (1.0f + (float)i);
}

static void test_compressions(void)
{
    enum { NCASES = 5 };
    static Case cases[NCASES];
    setup_exact(&cases[0]);
    setup_lossy(&cases[1]);
    setup_gtopk_hand(&cases[2]);
    setup_gtopk_all(&cases[3]);
    setup_gtopk_reenter(&cases[4]);
    SimOptions opts = {0};
    DtError err = {0};
    CU_ASSERT_EQUAL_FATAL(platform_check(PLATFORM, &opts, &err), 64);
    platform_load(PLATFORM, &opts, NULL);
    size_t nhosts;
    sg_host_t *hosts = placement_all_hosts(&nhosts);
    for (int k = 0; k < NCASES; k++)
        case_start(&cases[k], k, hosts);
    simgrid_run();
    free(hosts);
    double sum[MAXN];
    for (int k = 0; k < NCASES; k++) {
        CU_ASSERT_EQUAL(cases[k].finished, cases[k].p);
        CU_ASSERT(members_identical(&cases[k]));
    }

    /* exact: the sum, no residual; P and Q of 2 columns for 16 x 12, of
     * 2 for 20 x 30 (the second zero), the bias and the 2 x 3 whole */
    Case *c = &cases[0];
    sum_inputs(c, sum);
    CU_ASSERT(rel_error(c->out[0], sum, c->n) < 1e-5);
    for (int i = 0; i < c->p; i++) {
        double most = 0.0;
        for (size_t k = 0; k < c->n; k++)
            most = fmax(most, fabs(c->res[i][k]));
        CU_ASSERT(most < 1e-4);
        CU_ASSERT_DOUBLE_EQUAL(c->sent[i], 4.0 * ((20 + 30) * 2 + 5 + (16 + 12) * 2 + 6), 1e-9);
    }

    /* lossy: rank 1 of a rank-3 sum; what arrived plus the residuals is
     * the sum, and what arrived is not */
    c = &cases[1];
    sum_inputs(c, sum);
    float kept[MAXN];
    for (size_t k = 0; k < c->n; k++)
        kept[k] = c->out[0][k] + c->res[0][k] + c->res[1][k];
    CU_ASSERT(rel_error(kept, sum, c->n) < 1e-5);
    CU_ASSERT(rel_error(c->out[0], sum, c->n) > 0.05);
    CU_ASSERT_DOUBLE_EQUAL(c->sent[0], 4.0 * (24 + 18), 1e-9);

    /* gtopk by hand */
    c = &cases[2];
    static const float want[8] = {0, 0, 0, 0, 30, 0, 40, 0};
    CU_ASSERT(memcmp(c->out[0], want, sizeof want) == 0);
    static const float res[4][8] = {
        {10, 1}, {0, 0, 20, 2}, {0, 0, 0, 0, 0, 3}, {0, 0, 0, 0, 0, 0, 0, 4}};
    for (int i = 0; i < 4; i++)
        CU_ASSERT(memcmp(c->res[i], res[i], sizeof res[i]) == 0);
    for (int i = 0; i < c->p; i++)
        CU_ASSERT_DOUBLE_EQUAL(c->sent[i], 8.0 * 2, 1e-9);

    /* gtopk, a pair dropped and back: what arrived plus the residuals is
     * the sum less member 1's 1 */
    c = &cases[4];
    sum_inputs(c, sum);
    for (size_t k = 0; k < c->n; k++) {
        double got = c->out[0][k];
        for (int i = 0; i < c->p; i++)
            got += c->res[i][k];
        CU_ASSERT_DOUBLE_EQUAL(got, sum[k] - (k == 1 ? 1.0 : 0.0), 0.0);
    }
    CU_ASSERT(c->out[0][1] == 100.0f && c->res[1][1] == 0.0f);

    /* gtopk of everything: the sum */
    c = &cases[3];
    sum_inputs(c, sum);
    CU_ASSERT(rel_error(c->out[0], sum, c->n) < 1e-6);
}

/* A 12 x 10 matrix from offset 3 cut at a slice boundary at 50: rows 0-3
 * (floats 3-42) lie whole in [0, 50), row 4 (43-52) straddles it, rows 5-11 lie
 * whole in [50, 123). */
static void test_powersgd_cut(void)
{
    const ModelMatrix m = {3, 12, 10};
    ModelMatrix out[2];
    CU_ASSERT_EQUAL(powersgd_cut(&m, 1, 0, 50, NULL), 1);
    CU_ASSERT_EQUAL(powersgd_cut(&m, 1, 0, 50, out), 1);
    CU_ASSERT(out[0].offset == 3 && out[0].rows == 4 && out[0].cols == 10);
    CU_ASSERT_EQUAL(powersgd_cut(&m, 1, 50, 73, out), 1);
    CU_ASSERT(out[0].offset == 53 && out[0].rows == 7 && out[0].cols == 10);
    CU_ASSERT_EQUAL(powersgd_cut(&m, 1, 44, 8, out), 0); /* within row 4 */
    CU_ASSERT_EQUAL(powersgd_cut(&m, 1, 123, 10, out), 0);
}

/* A push of a rank-1 matrix at rank 1 is the matrix; of a rank-3 one,
 * what the server expands plus the worker's residual is the matrix; the
 * message is P and Q and the floats sent whole. */
static void test_powersgd_push(void)
{
    static const ModelMatrix mats[] = {{2, 24, 18}};
    const size_t n = 2 + 24 * 18 + 3;
    static float grad[2 + 24 * 18 + 3], msg[1024], out[2 + 24 * 18 + 3];
    Recorder rec = {0};
    Device dev = {.rec = &rec, .speed = 1e12};
    for (int rank = 1; rank <= 3; rank += 2) {
        CompressConfig cfg = {
            .kind = COMPRESS_POWERSGD, .rank = 1, .seed = 5, .mats = mats, .nmats = 1};
        Compress c;
        DtError err = {0};
        CU_ASSERT_FATAL(compress_init(&c, &cfg, &dev, n, 0, &err) == 0);
        CU_ASSERT_EQUAL(compress_message_count(&cfg, n, 0), 24 + 18 + 5);
        low_rank(grad + 2, 24, 18, rank, 0);
        grad[0] = 1.5f, grad[1] = -2.0f, grad[n - 3] = 3.0f, grad[n - 2] = 4.0f, grad[n - 1] = 5.0f;
        double want[2 + 24 * 18 + 3];
        for (size_t k = 0; k < n; k++)
            want[k] = grad[k];
        compress_pack(&c, grad, n, 0, 0, msg);
        compress_expand(&cfg, &dev, msg, n, 0, 0, out, NULL);
        float kept[2 + 24 * 18 + 3];
        for (size_t k = 0; k < n; k++)
            kept[k] = out[k] + c.residual[k];
        CU_ASSERT(rel_error(kept, want, n) < 1e-5);
        CU_ASSERT(out[0] == 1.5f && out[1] == -2.0f && out[n - 1] == 5.0f);
        if (rank == 1) {
            CU_ASSERT(rel_error(out, want, n) < 1e-5);
        } else {
            CU_ASSERT(rel_error(out, want, n) > 0.05);
        }
        compress_free(&c);
    }
}

/* A push of rank-1 gradients at rank 2 leaves Q a column of zeros (P's
 * second column depends on its first); drawn afresh, the next push of a
 * rank-2 gradient is still exact. */
static void test_powersgd_renews(void)
{
    static const ModelMatrix mats[] = {{0, 16, 12}};
    const size_t n = 16 * 12;
    static float grad[16 * 12], msg[1024], out[16 * 12];
    Recorder rec = {0};
    Device dev = {.rec = &rec, .speed = 1e12};
    CompressConfig cfg = {.kind = COMPRESS_POWERSGD,
                          .rank = 2,
                          .seed = 9,
                          .mats = mats,
                          .nmats = 1,
                          .error_feedback = COMPRESS_FEEDBACK_OFF};
    Compress c;
    DtError err = {0};
    CU_ASSERT_FATAL(compress_init(&c, &cfg, &dev, n, 0, &err) == 0);
    double want[16 * 12];
    for (int rank = 1; rank <= 2; rank++) {
        low_rank(grad, 16, 12, rank, 1);
        for (size_t k = 0; k < n; k++)
            want[k] = grad[k];
        compress_pack(&c, grad, n, 0, 0, msg);
        compress_expand(&cfg, &dev, msg, n, 0, 0, out, NULL);
        CU_ASSERT(rel_error(out, want, n) < 1e-5);
    }
    compress_free(&c);
}

int main(void)
{
    CU_TestInfo pure[] = {
        {"PowerSGD draws a zero column of Q afresh", test_powersgd_renews},
        {"PowerSGD cuts matrices at a server's slice", test_powersgd_cut},
        {"a PowerSGD push expands to the matrix, or with its residual", test_powersgd_push},
        CU_TEST_INFO_NULL,
    };
    CU_TestInfo simulated[] = {
        {"PowerSGD and global top-k deliver what they mean", test_compressions},
        CU_TEST_INFO_NULL,
    };
    CU_SuiteInfo suites[] = {
        {"point to point", NULL, NULL, NULL, NULL, pure},
        {"compression in one simulation", NULL, NULL, NULL, NULL, simulated},
        CU_SUITE_INFO_NULL,
    };
    return test_run_suites(suites);
}
