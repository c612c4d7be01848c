/*
 * train.h — building blocks of the classifier trainer (train.c) that other learners reuse:
 * the label set of a dataset and the stratified dev split. Thread-safe (no shared state).
 */
#ifndef BELT_LEARN_TRAIN_H
#define BELT_LEARN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "belt.h"

/* Split n items with labels gold[0..n) (indices < n_labels) into train and dev, stratified by
 * label: from each label with at least 2 items, round(fraction * count) items (at least 1, at
 * most count - 1) go to dev, chosen by a shuffle seeded with `seed`. is_dev[i] is set to 1 for
 * dev items, 0 otherwise. Returns the number of dev items, or (size_t)-1 on out of memory. */
size_t belt__split_stratified(const int *gold, size_t n, size_t n_labels, double fraction,
                              uint64_t seed, unsigned char *is_dev);

#endif
