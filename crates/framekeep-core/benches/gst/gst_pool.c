/* GStreamer's GstBufferPool acquire + release round trip, the baseline framekeep's pool
 * bench is compared with (crates/framekeep-core/benches/gst/run.sh builds and runs it).
 *
 * The same shape as benches/pool.rs: 4 preallocated 1920x1080 BGR24 buffers, a round trip
 * takes one (gst_buffer_pool_acquire_buffer), maps it, writes one byte, unmaps it and
 * gives it back (gst_buffer_unref, which returns it to the pool); 1 thread, then 2
 * threads on one pool at once, each pinned to a CPU of its own. Prints ns per round trip,
 * the median of 9 runs of 1,000,000 round trips per thread.
 */
#define _GNU_SOURCE
#include <gst/gst.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define W 1920
#define H 1080
#define BUFFERS 4
#define ITERS 1000000
#define RUNS 9

static GstBufferPool *pool;
static pthread_barrier_t barrier;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void round_trip(void) {
  GstBuffer *buf = NULL;
  if (gst_buffer_pool_acquire_buffer(pool, &buf, NULL) != GST_FLOW_OK) {
    fprintf(stderr, "acquire failed\n");
    exit(1);
  }
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  ((volatile guint8 *)map.data)[0] = 1;
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
}

static void *worker(void *arg) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)(long)arg % 2, &set);
  sched_setaffinity(0, sizeof set, &set);
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < ITERS; i++) round_trip();
  pthread_barrier_wait(&barrier);
  return NULL;
}

static double run(int threads) {
  pthread_t t[2];
  pthread_barrier_init(&barrier, NULL, threads + 1);
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  pthread_barrier_wait(&barrier);
  double t0 = now_ns();
  pthread_barrier_wait(&barrier);
  double ns = (now_ns() - t0) / ITERS;
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&barrier);
  return ns;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  pool = gst_buffer_pool_new();
  GstStructure *config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_set_params(config, NULL, W * H * 3, BUFFERS, BUFFERS);
  if (!gst_buffer_pool_set_config(pool, config) || !gst_buffer_pool_set_active(pool, TRUE)) {
    fprintf(stderr, "pool setup failed\n");
    return 1;
  }
  for (int threads = 1; threads <= 2; threads++) {
    double v[RUNS];
    run(threads); /* warm up */
    for (int r = 0; r < RUNS; r++) v[r] = run(threads);
    qsort(v, RUNS, sizeof v[0], cmp);
    printf("%d thread(s): gstreamer GstBufferPool %8.1f ns per round trip (median of %d)\n",
           threads, v[RUNS / 2], RUNS);
  }
  gst_buffer_pool_set_active(pool, FALSE);
  gst_object_unref(pool);
  return 0;
}
