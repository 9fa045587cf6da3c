# An example vtool batch pipeline: train -> add -> gt -> search -> eval, with a recall gate.
#
#   make -f scripts/pipeline.mk                      # the bundled demo data
#   make -f scripts/pipeline.mk DATA=../shared/data/glove-50-l2 OUT=/tmp/run \
#        SPEC=IVF1024,Flat NPROBE=64 MIN_RECALL=0.95
#
# vtool is taken from PATH, else from the project's .venv (scripts/demo.sh or
# scripts/install.sh make it); VTOOL=/path/to/vtool overrides both.
#
# Each step writes its output atomically, so an interrupted run is simply re-run. Each step
# also depends on its parameters: a stamp file per step holds their values and changes only
# when they do, so SPEC or SEED retrains, NPROBE or K re-searches, GT_K or METRIC recomputes the
# ground truth, and MIN_RECALL re-checks the gate -- and nothing else re-runs.
# eval exits 3 when recall@k falls below MIN_RECALL, failing the make (and a cron job).
#
# The sharded variant (`make -f scripts/pipeline.mk -j 4 sharded SHARDS=4`) adds the I-th of
# SHARDS parts of the base in parallel jobs (vtool add --shard I/N: ids are the rows' numbers in
# the file), merges the shards (vtool merge), then searches and gates the same way: its results
# equal the single index's.

DATA       ?= scripts/demo_data/glove-50-20k
OUT        ?= out/pipeline
VTOOL      ?= $(shell command -v vtool 2>/dev/null || echo .venv/bin/vtool)
SPEC       ?= IVF128,Flat
METRIC     ?= l2
SEED       ?= 0
K          ?= 10
NPROBE     ?= 16
GT_K       ?= 100
MIN_RECALL ?= 0.9
SHARDS     ?= 2
SHARD_LIST := $(shell seq 0 $$(($(SHARDS) - 1)))

.DELETE_ON_ERROR:
.PHONY: all sharded FORCE
all: $(OUT)/eval.json

$(OUT):
	mkdir -p $@

# $(call stamp,VALUES): rewrite the target only when VALUES differ from what it holds.
stamp = @echo '$(1)' | cmp -s - $@ || echo '$(1)' > $@

$(OUT)/train.params: FORCE | $(OUT)
	$(call stamp,$(SPEC) $(METRIC) $(SEED))
$(OUT)/gt.params: FORCE | $(OUT)
	$(call stamp,$(GT_K) $(METRIC))
$(OUT)/search.params: FORCE | $(OUT)
	$(call stamp,$(K) $(NPROBE))
$(OUT)/gate.params: FORCE | $(OUT)
	$(call stamp,$(MIN_RECALL))
$(OUT)/shards.params: FORCE | $(OUT)
	$(call stamp,$(SHARDS))

$(OUT)/model.vti: $(DATA)/base.npy $(OUT)/train.params
	$(VTOOL) train $< --index "$(SPEC)" --metric $(METRIC) --seed $(SEED) -o $@

$(OUT)/index.vti: $(OUT)/model.vti $(DATA)/base.npy
	$(VTOOL) add $^ -o $@

$(OUT)/gt.ibin: $(DATA)/base.npy $(DATA)/queries.npy $(OUT)/gt.params
	$(VTOOL) gt $(DATA)/base.npy $(DATA)/queries.npy -k $(GT_K) --metric $(METRIC) -o $@

$(OUT)/results.npz: $(OUT)/index.vti $(DATA)/queries.npy $(OUT)/search.params
	$(VTOOL) search $(OUT)/index.vti $(DATA)/queries.npy -k $(K) --nprobe $(NPROBE) -o $@ \
		--timing $(OUT)/timing.json

$(OUT)/eval.json: $(OUT)/results.npz $(OUT)/gt.ibin $(OUT)/gate.params
	$(VTOOL) eval $< --gt $(OUT)/gt.ibin --timing $(OUT)/timing.json --index $(OUT)/index.vti \
		--fail-below $(MIN_RECALL) --strict --json > $@

# -- sharded: the same index built in SHARDS parallel parts, merged -------------------------
sharded: $(OUT)/sharded-eval.json

$(OUT)/shard%.vti: $(OUT)/model.vti $(DATA)/base.npy $(OUT)/shards.params
	$(VTOOL) add $(OUT)/model.vti $(DATA)/base.npy --shard $*/$(SHARDS) -o $@

$(OUT)/sharded.vti: $(foreach i,$(SHARD_LIST),$(OUT)/shard$(i).vti)
	$(VTOOL) merge $^ -o $@

$(OUT)/sharded-results.npz: $(OUT)/sharded.vti $(DATA)/queries.npy $(OUT)/search.params
	$(VTOOL) search $(OUT)/sharded.vti $(DATA)/queries.npy -k $(K) --nprobe $(NPROBE) -o $@ \
		--timing $(OUT)/sharded-timing.json

$(OUT)/sharded-eval.json: $(OUT)/sharded-results.npz $(OUT)/gt.ibin $(OUT)/gate.params
	$(VTOOL) eval $< --gt $(OUT)/gt.ibin --timing $(OUT)/sharded-timing.json --index $(OUT)/sharded.vti \
		--fail-below $(MIN_RECALL) --strict --json > $@
