//! Session ids in a filter written in part (`session.id = 05730d28`, the
//! short form people copy): `replay` and `report` resolve them against the
//! capture files' sessions with the one resolver (event/resolve.rs) before
//! reading; live (`tail`, `record`) there is nothing to resolve against yet.
use super::{
    ast::{Cmp, Expr, Lit, Pred},
    Filter,
};
use crate::event::{resolve::Unresolved, SessionId};

/// Fields holding a session id.
const ID_FIELDS: [&str; 2] = ["session.id", "session.parent"];

impl Filter {
    /// The session ids written in part, as written.
    pub fn partial_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        let _ = visit_mut(&mut self.expr.clone(), &mut |t| {
            out.push(t.clone());
            Ok(())
        });
        out
    }

    /// Replaces every id written in part by the whole id `resolve` gives.
    pub fn resolve_ids(
        &mut self,
        resolve: &mut dyn FnMut(&str) -> Result<SessionId, Unresolved>,
    ) -> Result<(), Unresolved> {
        visit_mut(&mut self.expr, &mut |t| {
            *t = resolve(t)?.to_string();
            Ok(())
        })
    }
}

fn partial(t: &str) -> bool {
    t.parse::<SessionId>().is_err()
}

type Each<'a> = dyn FnMut(&mut String) -> Result<(), Unresolved> + 'a;

fn visit_mut(e: &mut Expr, f: &mut Each) -> Result<(), Unresolved> {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter_mut().try_for_each(|e| visit_mut(e, f)),
        Expr::Not(e) => visit_mut(e, f),
        Expr::Test(field, pred) if ID_FIELDS.contains(&field.name) => match pred {
            Pred::Cmp(Cmp::Eq | Cmp::Ne, lit) => text(lit, f),
            Pred::In(lits) => lits.iter_mut().try_for_each(|l| text(l, f)),
            Pred::Exists | Pred::Cmp(..) | Pred::Contains(_) | Pred::StartsWith(_) => Ok(()),
        },
        Expr::Test(..) => Ok(()),
    }
}

fn text(lit: &mut Lit, f: &mut Each) -> Result<(), Unresolved> {
    match lit {
        Lit::Text(t) if partial(t) => f(t),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_ids_are_found_and_replaced_whole_ids_kept() {
        let whole = "05730d28-2db4-8bc4-96af-4550fbed3a83";
        let src = format!(
            "session.id = 7e0c and not (session.id in (abc, {whole}) or session.parent != 9f) \
             and user = 7e0c and session.id startswith 1"
        );
        let mut f = Filter::parse(&src).unwrap();
        assert_eq!(f.partial_ids(), ["7e0c", "abc", "9f"]);
        let mut n = 0u128;
        f.resolve_ids(&mut |_| {
            n += 1;
            Ok(SessionId(n))
        })
        .unwrap();
        assert!(f.partial_ids().is_empty());
        let refused = Filter::parse("session.id = 7e")
            .unwrap()
            .resolve_ids(&mut |q| Err(Unresolved::NoMatch(q.into())));
        assert_eq!(refused, Err(Unresolved::NoMatch("7e".into())));
    }
}
