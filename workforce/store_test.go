package workforce

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

func fixedClock() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }

func each(t *testing.T, prefix string, fn func(t *testing.T, e testdb.Engine)) {
	for _, e := range testdb.Engines(prefix) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}

func openStore(t *testing.T, e testdb.Engine) *Store {
	t.Helper()
	dbURL, path := e.Locate(t, "workforce.db")
	s, err := Open(context.Background(), dbURL, path, fixedClock)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreCRUD(t *testing.T) {
	each(t, "workforce_crud", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)

		all, err := s.List(ctx)
		require.NoError(t, err)
		assert.Empty(t, all)

		_, err = s.Get(ctx, "ana-field")
		assert.ErrorIs(t, err, ErrNotFound)

		w := validWorker()
		require.NoError(t, s.Put(ctx, w))
		got, err := s.Get(ctx, w.ID)
		require.NoError(t, err)
		assert.Equal(t, w, got)

		// Put replaces, but keeps the live load: an edit made from an
		// older read must not reset the tasks someone holds.
		held := w.Load
		w.Name, w.Load = "Ana F.", 2
		require.NoError(t, s.Put(ctx, w))
		got, err = s.Get(ctx, w.ID)
		require.NoError(t, err)
		assert.Equal(t, "Ana F.", got.Name)
		assert.Equal(t, held, got.Load)

		// Put validates.
		bad := validWorker()
		bad.ID, bad.Skills[0].Level = "zed", 9
		var fe *FieldError
		require.ErrorAs(t, s.Put(ctx, bad), &fe)
		assert.Equal(t, "skills[0].level", fe.Field)
		_, err = s.Get(ctx, "zed")
		assert.ErrorIs(t, err, ErrNotFound, "a refused worker is not stored")

		// List is by id.
		for _, id := range []string{"zoe", "bo.b", "b-ob", "b_ob"} {
			o := validWorker()
			o.ID = id
			require.NoError(t, s.Put(ctx, o))
		}
		all, err = s.List(ctx)
		require.NoError(t, err)
		var ids []string
		for _, o := range all {
			ids = append(ids, o.ID)
		}
		assert.Equal(t, []string{"ana-field", "b-ob", "b_ob", "bo.b", "zoe"}, ids)

		require.NoError(t, s.Remove(ctx, "zoe"))
		assert.ErrorIs(t, s.Remove(ctx, "zoe"), ErrNotFound)
		_, err = s.Get(ctx, "zoe")
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

func TestStoreAdjustLoad(t *testing.T) {
	each(t, "workforce_load", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)
		w := validWorker()
		w.Load = 1
		require.NoError(t, s.Put(ctx, w))

		steps := []struct {
			delta, want int
		}{{+1, 2}, {+2, 4}, {-1, 3}, {-10, 0}, {-1, 0}, {+1, 1}}
		for _, st := range steps {
			got, err := s.AdjustLoad(ctx, w.ID, st.delta)
			require.NoError(t, err)
			assert.Equal(t, st.want, got.Load, "after %+d", st.delta)
			stored, err := s.Get(ctx, w.ID)
			require.NoError(t, err)
			assert.Equal(t, st.want, stored.Load)
			assert.Equal(t, w.Name, stored.Name)
		}
		_, err := s.AdjustLoad(ctx, "nobody", 1)
		assert.ErrorIs(t, err, ErrNotFound)

		// Concurrent adjustments are not lost.
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := s.AdjustLoad(ctx, w.ID, 1)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		got, err := s.Get(ctx, w.ID)
		require.NoError(t, err)
		assert.Equal(t, 11, got.Load)
	})
}

func TestStoreAdjustLoadOnce(t *testing.T) {
	each(t, "workforce_once", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)
		w := validWorker()
		require.NoError(t, s.Put(ctx, w))

		for range 3 {
			got, err := s.AdjustLoadOnce(ctx, w.ID, "wf-1/offer-1/accept", +1)
			require.NoError(t, err)
			assert.Equal(t, 1, got.Load, "a repeated key adjusts once")
		}
		got, err := s.AdjustLoadOnce(ctx, w.ID, "wf-1/offer-1/release", -1)
		require.NoError(t, err)
		assert.Equal(t, 0, got.Load)
		got, err = s.AdjustLoadOnce(ctx, w.ID, "wf-1/offer-1/release", -1)
		require.NoError(t, err)
		assert.Equal(t, 0, got.Load)

		// Never below 0, once or not.
		got, err = s.AdjustLoadOnce(ctx, w.ID, "stray-release", -1)
		require.NoError(t, err)
		assert.Equal(t, 0, got.Load)

		// A key is one adjustment: another worker or delta is refused.
		_, err = s.AdjustLoadOnce(ctx, w.ID, "wf-1/offer-1/accept", +2)
		assert.ErrorIs(t, err, ErrOpKeyReused)
		other := validWorker()
		other.ID = "other"
		require.NoError(t, s.Put(ctx, other))
		_, err = s.AdjustLoadOnce(ctx, "other", "wf-1/offer-1/accept", +1)
		assert.ErrorIs(t, err, ErrOpKeyReused)

		// An unknown worker records nothing: the key stays free.
		_, err = s.AdjustLoadOnce(ctx, "ghost", "wf-2/accept", +1)
		assert.ErrorIs(t, err, ErrNotFound)
		got, err = s.AdjustLoadOnce(ctx, "other", "wf-2/accept", +1)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Load)

		_, err = s.AdjustLoadOnce(ctx, w.ID, "", +1)
		assert.Error(t, err)

		// Concurrent retries of one key adjust once.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := s.AdjustLoadOnce(ctx, w.ID, "wf-3/accept", +1)
				if err != nil && !errors.Is(err, context.Canceled) {
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		got, err = s.Get(ctx, w.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.Load)
	})
}

func TestStoreSeed(t *testing.T) {
	each(t, "workforce_seed", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		s := openStore(t, e)
		require.NoError(t, s.Seed(ctx))
		all, err := s.List(ctx)
		require.NoError(t, err)
		assert.Equal(t, DemoWorkers(), all)

		// Not empty: seeding again leaves edits and removals alone.
		_, err = s.AdjustLoad(ctx, "ana-field", 2)
		require.NoError(t, err)
		require.NoError(t, s.Remove(ctx, "eva-field"))
		require.NoError(t, s.Seed(ctx))
		all, err = s.List(ctx)
		require.NoError(t, err)
		require.Len(t, all, 4)
		assert.Equal(t, 2, all[0].Load)

		// A directory with only someone else in it is not seeded either.
		s2 := openStore(t, e)
		require.NoError(t, s2.Put(ctx, validWorker()))
		require.NoError(t, s2.Seed(ctx))
		all, err = s2.List(ctx)
		require.NoError(t, err)
		assert.Len(t, all, 1)
	})
}

// Reopening finds the tables and the data.
func TestStoreReopen(t *testing.T) {
	each(t, "workforce_reopen", func(t *testing.T, e testdb.Engine) {
		ctx := context.Background()
		dbURL, path := e.Locate(t, "workforce.db")
		s, err := Open(ctx, dbURL, path, nil)
		require.NoError(t, err)
		require.NoError(t, s.Put(ctx, validWorker()))
		require.NoError(t, s.Close())
		s, err = Open(ctx, dbURL, path, nil)
		require.NoError(t, err)
		defer s.Close()
		got, err := s.Get(ctx, "ana-field")
		require.NoError(t, err)
		assert.Equal(t, validWorker(), got)
	})
}
