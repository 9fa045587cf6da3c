# An example vtool batch pipeline: train -> add -> search -> eval, with a recall gate.
#
#   make -f scripts/pipeline.mk                      # the bundled demo data
#   make -f scripts/pipeline.mk DATA=/data/set OUT=/tmp/run SPEC=IVF1024,Flat MIN_RECALL=0.95
#
# Each step writes its output atomically, so an interrupted run is simply re-run.
# eval exits 3 when recall@k falls below MIN_RECALL, failing the make (and a cron job).

DATA       ?= scripts/demo_data/glove-50-20k
OUT        ?= out/pipeline
VTOOL      ?= vtool
SPEC       ?= IVF128,Flat
SEED       ?= 0
K          ?= 10
NPROBE     ?= 16
MIN_RECALL ?= 0.9

.DELETE_ON_ERROR:
.PHONY: all
all: $(OUT)/eval.json

$(OUT):
	mkdir -p $@

$(OUT)/model.vti: $(DATA)/base.npy | $(OUT)
	$(VTOOL) train $< --index "$(SPEC)" --seed $(SEED) -o $@

$(OUT)/index.vti: $(OUT)/model.vti $(DATA)/base.npy
	$(VTOOL) add $^ -o $@

$(OUT)/gt.ibin: $(DATA)/base.npy $(DATA)/queries.npy | $(OUT)
	$(VTOOL) gt $^ -k 100 -o $@

$(OUT)/results.npz: $(OUT)/index.vti $(DATA)/queries.npy
	$(VTOOL) search $^ -k $(K) --nprobe $(NPROBE) -o $@ --timing $(OUT)/timing.json

$(OUT)/eval.json: $(OUT)/results.npz $(OUT)/gt.ibin
	$(VTOOL) eval $< --gt $(OUT)/gt.ibin --timing $(OUT)/timing.json --index $(OUT)/index.vti \
		--fail-below $(MIN_RECALL) --json > $@
